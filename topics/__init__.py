"""The topic catalog: Tilik's public contract. Every topic, its key and its pydantic payload, declared once."""
