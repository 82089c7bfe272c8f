"""Tests of the Custom Labels emulator (localrun.emulator) and the clocks."""
