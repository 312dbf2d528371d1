print("meridian-edge")
