-- Description: the schema that parley's create_all made on PostgreSQL before it had migrations,
-- as a release older than the outbox's `mode` column left it (no alembic_version table).
-- Expect: init_db adopts it: keeps every row, adds outboxalert.mode ('immediate'), stamps it.
-- Frozen on purpose: do not regenerate it from the current models.

CREATE TABLE feed (
	id SERIAL NOT NULL,
	url VARCHAR(2000) NOT NULL,
	name VARCHAR(300) NOT NULL,
	language VARCHAR(16) NOT NULL,
	tier VARCHAR(16) NOT NULL,
	interval INTEGER NOT NULL,
	active BOOLEAN NOT NULL,
	etag VARCHAR(500),
	last_modified VARCHAR(100),
	body_hash VARCHAR(64),
	last_fetch_at TIMESTAMP WITH TIME ZONE,
	last_ok_at TIMESTAMP WITH TIME ZONE,
	last_status VARCHAR(32),
	last_error TEXT,
	failures_in_row INTEGER NOT NULL,
	failing_since TIMESTAMP WITH TIME ZONE,
	retry_after_until TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (url)
);

CREATE TABLE entry (
	id SERIAL NOT NULL,
	feed_id INTEGER NOT NULL,
	uid VARCHAR(2000) NOT NULL,
	guid VARCHAR(2000),
	link VARCHAR(2000),
	title TEXT NOT NULL,
	summary TEXT NOT NULL,
	author VARCHAR(300),
	published_at TIMESTAMP WITH TIME ZONE,
	updated_at TIMESTAMP WITH TIME ZONE,
	content_hash VARCHAR(64) NOT NULL,
	revision INTEGER NOT NULL,
	first_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
	changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_entry_feed_uid UNIQUE (feed_id, uid),
	FOREIGN KEY(feed_id) REFERENCES feed (id)
);

CREATE INDEX ix_entry_feed_id ON entry (feed_id);

CREATE INDEX ix_entry_published_at ON entry (published_at);

CREATE TABLE entryrevision (
	id SERIAL NOT NULL,
	entry_id INTEGER NOT NULL,
	revision INTEGER NOT NULL,
	title TEXT NOT NULL,
	summary TEXT NOT NULL,
	link VARCHAR(2000),
	content_hash VARCHAR(64) NOT NULL,
	seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_revision_entry_rev UNIQUE (entry_id, revision),
	FOREIGN KEY(entry_id) REFERENCES entry (id)
);

CREATE INDEX ix_entryrevision_entry_id ON entryrevision (entry_id);

CREATE TABLE match (
	id SERIAL NOT NULL,
	entry_id INTEGER NOT NULL,
	revision INTEGER NOT NULL,
	topic_key VARCHAR(100) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	terms JSON NOT NULL,
	field VARCHAR(16) NOT NULL,
	snippet TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_match_entry_topic_rev UNIQUE (entry_id, topic_key, revision),
	FOREIGN KEY(entry_id) REFERENCES entry (id)
);

CREATE INDEX ix_match_entry_id ON match (entry_id);

CREATE INDEX ix_match_topic_key ON match (topic_key);

CREATE TABLE story (
	id SERIAL NOT NULL,
	topic_key VARCHAR(100) NOT NULL,
	headline TEXT NOT NULL,
	opened_by INTEGER NOT NULL,
	first_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
	last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
	official BOOLEAN NOT NULL,
	corroborated BOOLEAN NOT NULL,
	outlets INTEGER NOT NULL,
	signature JSON NOT NULL,
	facts JSON NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(opened_by) REFERENCES entry (id)
);

CREATE INDEX ix_story_last_seen_at ON story (last_seen_at);

CREATE INDEX ix_story_topic_key ON story (topic_key);

CREATE TABLE outboxalert (
	id SERIAL NOT NULL,
	idempotency_key VARCHAR(64) NOT NULL,
	match_id INTEGER,
	channel VARCHAR(200) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	topic_key VARCHAR(100) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	last_error TEXT,
	next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
	claimed_until TIMESTAMP WITH TIME ZONE,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	sent_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (idempotency_key),
	FOREIGN KEY(match_id) REFERENCES match (id)
);

CREATE INDEX ix_outboxalert_channel ON outboxalert (channel);

CREATE INDEX ix_outboxalert_match_id ON outboxalert (match_id);

CREATE INDEX ix_outboxalert_status ON outboxalert (status);

CREATE TABLE storyentry (
	id SERIAL NOT NULL,
	story_id INTEGER NOT NULL,
	entry_id INTEGER NOT NULL,
	feed_id INTEGER NOT NULL,
	role VARCHAR(16) NOT NULL,
	added JSON NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_story_entry UNIQUE (story_id, entry_id),
	FOREIGN KEY(story_id) REFERENCES story (id),
	FOREIGN KEY(entry_id) REFERENCES entry (id),
	FOREIGN KEY(feed_id) REFERENCES feed (id)
);

CREATE INDEX ix_storyentry_entry_id ON storyentry (entry_id);

CREATE INDEX ix_storyentry_story_id ON storyentry (story_id);
