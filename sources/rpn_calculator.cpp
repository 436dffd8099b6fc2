#include <iostream>
#include <string>
#include <vector>

int evaluate(const std::string& expression) {
    std::vector<int> stack;
    std::size_t i = 0;
    while (i < expression.size()) {
        char c = expression[i];
        if (c >= '0' && c <= '9') {
            int value = 0;
            while (i < expression.size() && expression[i] >= '0' && expression[i] <= '9') {
                value = value * 10 + (expression[i] - '0');
                ++i;
            }
            stack.push_back(value);
            continue;
        }
        if (c == '+' || c == '-' || c == '*') {
            int right = stack.back();
            stack.pop_back();
            int left = stack.back();
            stack.pop_back();
            stack.push_back(c == '+' ? left + right : c == '-' ? left - right : left * right);
        }
        ++i;
    }
    return stack.back();
}

int main() {
    const std::string expressions[] = {"3 4 + 2 *", "5 1 2 + 4 * + 3 -", "10 20 30 * -"};
    for (const std::string& e : expressions) {
        std::cout << e << " = " << evaluate(e) << std::endl;
    }
    return 0;
}
