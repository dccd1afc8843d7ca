"""The streaming layer: value-change events out to Kafka, ingest events in through the
Feature Processor, real-time windowed aggregations. Needs ``fstore[kafka]``."""
