"""reidkit.track"""
