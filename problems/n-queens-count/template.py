def count_arrangements(n):
    pass
