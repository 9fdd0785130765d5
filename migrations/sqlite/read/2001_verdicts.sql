-- Verdicts from the judge (SubmissionJudged). `verdict_detail` is the
-- domain's Verdict as JSON; the other columns are for sorting and filtering.
ALTER TABLE submissions ADD COLUMN verdict TEXT;
ALTER TABLE submissions ADD COLUMN passed BIGINT;
ALTER TABLE submissions ADD COLUMN total BIGINT;
ALTER TABLE submissions ADD COLUMN runtime_ms BIGINT;
ALTER TABLE submissions ADD COLUMN memory_kb BIGINT;
ALTER TABLE submissions ADD COLUMN verdict_detail TEXT;
ALTER TABLE submissions ADD COLUMN judged_at BIGINT;
