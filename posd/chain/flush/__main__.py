"""`python -m posd.chain.flush --db … --key-file … --rpc … --mining …` (see run.main)."""

from posd.chain.flush.run import main

raise SystemExit(main())
