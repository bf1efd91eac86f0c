"""reidkit.index"""
