# pragma version ~=0.4.3
"""
@title PriceFeed (tests only)
@notice An AggregatorV3-style price feed whose answer and update time the test sets, to check the
        till's DSG price source (DESIGN §10): decimals, a fresh price, a stale one.
"""

decimals: public(uint8)
answer: int256
updated_at: uint256
round_id: uint80


@deploy
def __init__(_decimals: uint8):
    self.decimals = _decimals


@external
def set(_answer: int256, _updated_at: uint256):
    self.answer = _answer
    self.updated_at = _updated_at
    self.round_id += 1


@view
@external
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    return (self.round_id, self.answer, self.updated_at, self.updated_at, self.round_id)
