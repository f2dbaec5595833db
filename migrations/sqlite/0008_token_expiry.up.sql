BEGIN;
-- API tokens may expire: NULL is never. An expired token is refused like a
-- revoked one.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMP;
COMMIT;
