-- rule: aws-cloudtrail-event-selectors-reduced
-- status: coarse
-- coarse: requestParameters.advancedEventSelectors may hold an array or object
-- coarse: requestParameters.advancedEventSelectors.fieldSelectors may hold an array or object
-- coarse: requestParameters.eventSelectors may hold an array or object
-- coarse: requestParameters.eventSelectors.excludeManagementEventSources may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'cloudtrail.amazonaws.com'
  AND eventname = 'PutEventSelectors'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (((json_extract_scalar(requestparameters, '$.eventSelectors') IS NOT NULL OR COALESCE((json_extract(requestparameters, '$.eventSelectors') IS NOT NULL AND json_extract_scalar(requestparameters, '$.eventSelectors') IS NULL), FALSE)) AND NOT (json_extract_scalar(requestparameters, '$.eventSelectors') IS NOT NULL AND NOT (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.eventSelectors'), '"includeManagementEvents":false|"readWriteType":"(ReadOnly|WriteOnly)"'), FALSE)))) OR json_extract_scalar(requestparameters, '$.eventSelectors.excludeManagementEventSources') LIKE '%' ESCAPE '\' OR COALESCE(json_array_length(json_extract(requestparameters, '$.eventSelectors')) IS NOT NULL OR (json_extract(requestparameters, '$.eventSelectors.excludeManagementEventSources') IS NOT NULL AND json_extract_scalar(requestparameters, '$.eventSelectors.excludeManagementEventSources') IS NULL), FALSE) OR ((json_extract_scalar(requestparameters, '$.advancedEventSelectors') IS NOT NULL OR COALESCE((json_extract(requestparameters, '$.advancedEventSelectors') IS NOT NULL AND json_extract_scalar(requestparameters, '$.advancedEventSelectors') IS NULL), FALSE)) AND NOT (json_extract_scalar(requestparameters, '$.advancedEventSelectors') IS NOT NULL AND COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.advancedEventSelectors'), '(?i)"equals":\["Management"\],"field":"eventCategory"'), FALSE) AND NOT (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.advancedEventSelectors'), '(?i)"field":"readOnly"'), FALSE)))) OR regexp_like(json_extract_scalar(requestparameters, '$.advancedEventSelectors.fieldSelectors'), '(?i)"field":"eventSource","notEquals"') OR COALESCE(json_array_length(json_extract(requestparameters, '$.advancedEventSelectors')) IS NOT NULL OR (json_extract(requestparameters, '$.advancedEventSelectors.fieldSelectors') IS NOT NULL AND json_extract_scalar(requestparameters, '$.advancedEventSelectors.fieldSelectors') IS NULL), FALSE))
