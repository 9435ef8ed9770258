DROP TABLE text_vectors;
