"""reidkit.embed"""
