"""reidkit.evaluate"""
