"""loyalty-bridge: POS webhooks in, loyalty awards out. The app factory is bridge.app.create_app."""
