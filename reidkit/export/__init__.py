"""reidkit.export"""
