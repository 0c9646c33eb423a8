"""The Hetzner Cloud API emulator: an aiohttp application over the simulated cloud's resources, kept in memory."""
