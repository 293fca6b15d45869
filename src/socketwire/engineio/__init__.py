"""Engine.IO v4: packets, the sans-I/O server core, and the plain Engine.IO server API."""
