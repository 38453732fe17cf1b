"""Facts every rule shares, computed once per file: import aliases (`imports`) and the
training-loop model (`training`). Rules ask these questions instead of re-walking the tree."""
