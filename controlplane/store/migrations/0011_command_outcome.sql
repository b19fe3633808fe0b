-- How a command ended, as a fact rather than a prefix of the text shown to
-- operators: 'ok' or 'failed' as its agent answered (with the agent's own
-- words in `detail`), or 'settled' when Warden closed it without an answer
-- (its session ended, it was forced closed, a newer peer set replaced it).
-- `result` stays the readable line it always was.
ALTER TABLE commands
  ADD COLUMN outcome text CONSTRAINT commands_outcome_known
    CHECK (outcome IN ('ok', 'failed', 'settled')),
  ADD COLUMN detail text;

UPDATE commands SET
  outcome = CASE WHEN result LIKE 'error%' THEN 'failed'
                 WHEN result = 'ok' OR result LIKE 'ok: %' THEN 'ok'
                 ELSE 'settled' END,
  detail = CASE WHEN result LIKE 'error: %' THEN substr(result, 8)
                WHEN result LIKE 'ok: %' THEN substr(result, 5)
                WHEN result = 'ok' THEN ''
                ELSE NULL END
WHERE acked_at IS NOT NULL;

-- Every settled command says how; none says so before it is settled.
ALTER TABLE commands ADD CONSTRAINT commands_settled_with_outcome
  CHECK ((acked_at IS NULL) = (outcome IS NULL));
