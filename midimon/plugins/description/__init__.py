"""What a plugin says it is and where it is found: manifest, capabilities, discovery.

Nothing here runs plugin code.
"""
