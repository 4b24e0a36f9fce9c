"""Pump firmware: pure logic. It reaches hardware only through the HAL objects it is handed."""

VERSION = "0.1.0"
