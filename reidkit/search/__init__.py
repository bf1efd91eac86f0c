"""reidkit.search"""
