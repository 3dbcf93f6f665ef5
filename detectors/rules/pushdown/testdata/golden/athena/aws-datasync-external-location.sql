-- rule: aws-datasync-external-location
-- status: coarse
-- coarse: requestParameters.serverHostname may hold an array or object
-- coarse: requestParameters.serverHostname: cidr
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'datasync.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND ((eventname IN ('CreateLocationSmb', 'CreateLocationNfs', 'CreateLocationObjectStorage') AND (json_extract_scalar(requestparameters, '$.serverHostname') IS NOT NULL OR COALESCE((json_extract(requestparameters, '$.serverHostname') IS NOT NULL AND json_extract_scalar(requestparameters, '$.serverHostname') IS NULL), FALSE))) OR eventname IN ('CreateLocationHdfs', 'CreateLocationAzureBlob'))
