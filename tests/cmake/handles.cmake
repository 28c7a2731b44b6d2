# handles: wild handles (not a live object of the call's kind) passed to
# every call on a shared-heap object.
mpk_test(handles wild)
