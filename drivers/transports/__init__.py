"""How bytes reach a driver: serial ports, evdev keyboard wedges, in-process simulation.

``lines`` holds the line-reading base driver every scanner and card reader builds on.
"""
