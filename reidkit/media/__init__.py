"""reidkit.media"""
