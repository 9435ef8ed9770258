DROP TRIGGER search_docs_updated;
DROP TRIGGER search_docs_deleted;
DROP TRIGGER search_docs_inserted;
DROP TABLE search_fts;
DROP TABLE search_docs;
