-- Which of these event ids are stored already. $1 event ids.
SELECT event_id FROM {schema}.access_events WHERE event_id = ANY($1::text[])
