/** The labelled search box of the console's lists. */
export function SearchField({
  value,
  placeholder,
  onChange,
  testId,
}: {
  value: string;
  placeholder: string;
  onChange: (value: string) => void;
  testId?: string;
}) {
  return (
    <label>
      Search{' '}
      <input
        type="search"
        value={value}
        placeholder={placeholder}
        onChange={(e) => onChange(e.target.value)}
        data-testid={testId}
      />
    </label>
  );
}
