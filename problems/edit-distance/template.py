def edit_distance(source, target):
    pass
