"""nerfstudio models: splatfacto that runs anywhere, seeded by the initializer."""
