"""Raw UART gas sensors (Winsen ZE-series CO / CH2O, MH-Z19-style 9-byte frames) in active-upload
or question-and-answer mode: frame parsing and decoding, and the port reader (`UartDriver`,
config type `uart`). One port, one sensor module."""
