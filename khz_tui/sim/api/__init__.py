"""The Hetzner Cloud API emulator: an aiohttp application over an in-memory project state."""
