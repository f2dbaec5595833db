echo second
