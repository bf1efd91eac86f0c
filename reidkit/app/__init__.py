"""reidkit.app"""
