def combined_median(first, second):
    pass
