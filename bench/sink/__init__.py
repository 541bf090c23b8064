"""Sink stage benchmark: deliveries/s to a local fake webhook and the latency the stage adds."""
