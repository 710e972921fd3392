"""Partner deliveries: readers, profiles (field mappings), validation of a whole delivery, atomic loading."""
