def search_insert(nums, target):
    pass
