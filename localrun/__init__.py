"""Offline runtime: the pipeline on a laptop (moto + the Custom Labels emulator)."""
