def longest_distinct_substring(s):
    pass
