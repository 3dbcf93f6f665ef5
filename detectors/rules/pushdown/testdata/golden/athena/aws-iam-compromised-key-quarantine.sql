-- rule: aws-iam-compromised-key-quarantine
-- status: coarse
-- coarse: requestParameters.policyArn may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'iam.amazonaws.com'
  AND eventname = 'AttachUserPolicy'
  AND (json_extract_scalar(requestparameters, '$.policyArn') LIKE '%AWSCompromisedKeyQuarantine%' ESCAPE '\' OR COALESCE((json_extract(requestparameters, '$.policyArn') IS NOT NULL AND json_extract_scalar(requestparameters, '$.policyArn') IS NULL), FALSE))
