"""Side-by-side peer benchmark: detection (ruptures, statsforecast, a seasonal-z baseline) and
root cause (DoWhy gcm, a largest-driver-shift baseline) on the eval suite's and random worlds,
scored as the evals score cx-agent. Entry point: `python -m benchmarks.peers.run`."""
