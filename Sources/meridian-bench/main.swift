print("meridian-bench")
