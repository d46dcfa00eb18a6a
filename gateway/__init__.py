"""fanout gateway: websocket + HTTP API in front of the broker."""
