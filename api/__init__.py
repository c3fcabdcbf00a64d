"""``tilik api``: the HTTP service for agencies, businesses and citizens, its state in Kafka."""
