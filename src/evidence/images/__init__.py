"""Images and screenshots: capture times, screen layout from pixels, OCR, and reading chat screenshots."""
