"""The paper's studies and the CPU demo as one-command recipes over cached, resumable stages."""
