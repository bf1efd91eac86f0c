"""reidkit.data"""
